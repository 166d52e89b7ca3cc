"""Voice notes, images and documents: fetching, transcribing, speaking, storing."""
