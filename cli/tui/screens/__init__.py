"""The screens of `gate top`: the main view, one request's trace, the help."""
