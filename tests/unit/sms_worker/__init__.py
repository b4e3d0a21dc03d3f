"""Unit tests of the SMS worker's pure rules."""
