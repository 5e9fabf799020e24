"""Doodle Lab, the server. The web shell and what every mode shares sit here: the app factory
(`app`, `python -m game` in `__main__`), the protocol's vocabulary (`protocol`), the Socket.IO
helpers (`realtime`), the words (`words`), the languages (`i18n`), the pages (`routes`, `pwa`),
security headers and rate limits (`security`, `ratelimit`). Each concern is a package: `model`,
`solo`, `classroom`, `dataset`, `vision`, and the load and recognition clients, `replay`."""
