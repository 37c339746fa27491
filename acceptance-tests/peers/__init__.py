"""Launchers and small clients for the independent test peers (fake-switches, sushy-emulator, badfish)."""
