"""Liveness sessions: one decision for one person in front of one camera, from frames a page sends.

The side that sends the frames holds the session token and may be an attacker: it may send any bytes, at any
pace, and read every answer. So the rooms here are: what counts as a camera frame and how a session's frames must
change (`camera.py`), that every judged frame shows one person (`identity.py`), the head movements a challenge
session asks for and how they are seen (`challenge.py`), the decision (`rule.py`), a
frame's way through a session (`flow.py`), the store with its bounds on sessions and bytes (`store.py`), and what
each side may read (`views.py`). The routes in liveness/service/app.py only call these.
"""
