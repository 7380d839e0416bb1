"""Development tools, never imported by the runtime packages: the Mistral emulator, the
development webhook receiver, the local stack and the ``mistral-queue dev`` demo."""
