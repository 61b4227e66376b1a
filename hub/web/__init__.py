"""The hub over HTTP: routers, the dependencies that say who is calling, browser sessions and sign-in."""
