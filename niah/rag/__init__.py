"""RAG twins: ``rag/<model id>`` answers each trial from the top-k retrieved chunks of
the very context its full-context twin reads (``niah.rag.builder``)."""
