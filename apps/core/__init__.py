"""The lowest layer: helpers every app may import (error shape, API fields, base64, rate limits,
the server's event loop, JSON logging). A plain package, not a Django app: it has no models,
no migrations and nothing to register at start-up. It imports no other app and nothing from
`talkee/` (the project's wiring, which sits above the apps)."""
