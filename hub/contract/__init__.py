"""The hub's public contract, shared with department adapters: licence ids, identifier checks, status
codes and the SD-JWT VC format. Nothing here imports the rest of the hub."""
