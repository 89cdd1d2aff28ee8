"""The scale model: capacity, cost and limits from 10 thousand to 10 million daily users."""
