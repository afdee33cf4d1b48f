"""The embedded local platform: services under one state directory, no cluster needed."""
