"""Shared basket data of the tests: the textbook FP-growth example."""

#: Han, Kamber & Pei, "Data Mining: Concepts and Techniques", Table 6.1 (the FP-growth example).
TEXTBOOK = [
    ["I1", "I2", "I5"],
    ["I2", "I4"],
    ["I2", "I3"],
    ["I1", "I2", "I4"],
    ["I1", "I3"],
    ["I2", "I3"],
    ["I1", "I3"],
    ["I1", "I2", "I3", "I5"],
    ["I1", "I2", "I3"],
]
