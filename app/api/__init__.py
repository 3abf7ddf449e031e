"""The HTTP edge: dependencies, parameters, bodies, answers and one router per resource."""
