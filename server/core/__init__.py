"""What every layer may use: settings, errors, wire types, what passes between the entry and the
stages, SSE framing, token counts and bounds, prices, periods, llama.cpp's proven CPU code."""
