"""pjsua2 adapter: the only package that imports pjsua2."""
