"""The open dataset: contributed drawings stored (`store`, its schema's `migrations/`) and
taken over HTTP (`contribute`), browsed beside Google's Quick, Draw! files (`browse`,
`quickdraw_files`; Google's formats read and written by `quickdraw`), moderated (`admin`),
exported (`python -m game.dataset export`)."""
