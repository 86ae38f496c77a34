"""Session runtime: what keeps live voice sessions going in the server process.

It knows no web: the server creates it, hands it each new connection, and shuts it down.
"""
