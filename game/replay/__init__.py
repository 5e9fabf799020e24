"""The replay: real Quick, Draw! drawings played through a running server by Socket.IO
clients, solo players (`solo`) or classrooms (`classroom`), sharing `client`; the game's
recognition measure and its load generator (`python -m game.replay`)."""
