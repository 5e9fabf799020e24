"""The solo game: its rules (`rules`, plain Python) and its Socket.IO transport (`transport`)."""
