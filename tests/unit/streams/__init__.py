"""Recorded response streams of real servers, and a replayer that feeds them with a fake clock."""
