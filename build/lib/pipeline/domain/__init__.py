"""The batch domain: what a batch is made of and how it is judged, independent of any worker.

Whose pages they are (``students``), which API each document goes to (``routing``), when to
ask the provider again (``polling``), how far a batch has come and when it is done
(``progress``, ``summary``), who is told (``notify``), how each API's answer becomes rows
(``rows``) and what a grade and a correct rate are (``grades``). The stages call it; it uses
adapters, never stages or workers.
"""
