"""``conserje demo``: the real server wired to the fakes, a scripted model and a chat simulator."""
