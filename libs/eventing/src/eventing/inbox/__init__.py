"""The inbox: ids of applied events, recorded in the transaction of their effects."""
