"""An example third-party gentk plugin."""
