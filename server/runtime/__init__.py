"""A running gateway's state: the state object, live reload, the key cache, alerts."""
