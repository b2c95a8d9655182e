"""The demo world's services: small, real upstreams on 127.0.0.1 for the demo tools.

Each module holds one service (its storage and its HTTP routes); `demo_tools.world`
starts them all in one process.
"""
