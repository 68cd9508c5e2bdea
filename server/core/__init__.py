"""What every layer may use: settings, errors, wire types, token counts and bounds, prices, periods."""
