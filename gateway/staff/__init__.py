"""What staff do to tickets: status changes, replies, notes, assignment, merge and split, each one transaction that
holds the ticket change, its audit Event and the Outbox rows owed to the resident. Web routes call only these."""
