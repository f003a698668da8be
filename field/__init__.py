"""The technicians' mobile web app and push delivery."""
