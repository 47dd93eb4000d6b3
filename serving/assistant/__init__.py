"""The customer-service assistant behind ``/assist``: the parts that are not the intent model.

- ``entities``: invoice numbers, product codes and names (matched against the catalogue,
  tolerant of typos), e-mail addresses, amounts and dates found in a message;
- ``knowledge``: the shop's policy pages (Markdown in ``<home>/knowledge/``), indexed with BM25
  and re-indexed when a file changes; answers quote a passage and name its file;
- ``shop``: the orders and catalogue from the warehouse (``warehouse.reader``), reloaded when
  the warehouse changes;
- ``log``: conversations and hand-over tickets, with personal data masked;
- ``dialogue``: one turn of a conversation from all of the above and the champions.

See docs/assistant.md.
"""
