"""The widgets of `gate top`: panels over one Snapshot, the requests table, the waterfall."""
