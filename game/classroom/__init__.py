"""The classroom: rooms' rules (`rules`, plain Python), its modes (`modes`), typed guesses and
nicknames (`text`), and the Socket.IO transport with the teacher's and phones' pages
(`transport`)."""
