"""The fake WeCom server: a real HTTP server that plays a corp's WeCom for development, the demo and tests."""
