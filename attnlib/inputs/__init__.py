"""Input-level tests: erasing tokens from the input and rerunning the model
(ERASER's comprehensiveness and sufficiency) and Jain & Wallace's agreement computed
their way. Explained in the chapter "Other tests of attention".
"""
