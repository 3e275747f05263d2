"""kontext-preview: live previews of AI-written Vite apps that update in well under a second."""

__version__ = "0.1.0"
