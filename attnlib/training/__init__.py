"""Training: the models' optimisation loop, loading trained runs, the run cache
and the majority-class and tf-idf baselines. Explained in the chapter "Models"
(book/models.ipynb).
"""
