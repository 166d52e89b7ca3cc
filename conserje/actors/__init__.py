"""The actor world: a supervisor, one actor per chat, a clock and a ticker."""
