"""The admin surface, written once.

`operations` holds every admin operation (keys, teams, budgets, spend, traces, cache,
providers): each takes a store connection (and the settings) or the worker's state, plus
plain arguments, returns plain data and refuses with `Refused`. `endpoints` is the one table
of the admin HTTP API: `server.web.routes.admin` registers its handlers from it, and the CLI's
remote backend and `gate top` build their URLs from it. The CLI's local backend calls the
operations directly on the SQLite file.
"""
