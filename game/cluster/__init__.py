"""Serving on several servers: the games' snapshots and their owners in Redis (`store`,
`snapshot`), classroom events relayed to the server that holds their room (`relay`), and
`python -m game cluster`, which runs Redis, nginx and the servers on one machine (`launch`).
docs/serving.md, "Several servers"."""
