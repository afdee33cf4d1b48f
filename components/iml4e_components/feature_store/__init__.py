"""Feast feature store components: materialize features online, fetch point-in-time training features."""
