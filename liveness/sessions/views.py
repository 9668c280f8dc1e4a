"""What each side may read of a session.

The page (the session token's holder, who may be the attacker) learns its progress, a hint and the face box to
draw, and at the end "done" or "try again" with the reason: never a score, a confidence or a per-frame decision,
which would let a replay be tuned until it passes. Only a service without API keys (a local try-out) tells the
page the decision itself. The backend (GET with its key) reads the decision, the frames' summaries and the
reference and audit images, which come from the frames that carried the decision.
"""
import base64
import time

from liveness.sessions.rule import HINTS_IN_WORDS, REASONS_IN_WORDS, RETRY

CREATED, IN_PROGRESS, SUCCEEDED, EXPIRED = "CREATED", "IN_PROGRESS", "SUCCEEDED", "EXPIRED"


def progress_view(count, needed, hint=None, box=None, wait_s=0.0, result=None, open_service=False, challenge=None):
    """A frame's answer to the page: progress, a hint, the box; during a challenge the step to do now (never
    the steps to come); at the end the outcome and its reason."""
    view = {"status": IN_PROGRESS, "frames_received": count, "frames_needed": needed, "hint": hint,
            "message": HINTS_IN_WORDS.get(hint), "box": box, "next_frame_in_ms": int(round(wait_s * 1000))}
    if challenge is not None:
        view.update(challenge=challenge, message=challenge["message"])
    if result is not None:
        retry = result["decision"] == RETRY
        view.update(status=SUCCEEDED, outcome="retry" if retry else "done", hint=None, next_frame_in_ms=None,
                    reason=result["reason"] if retry else None,
                    message=REASONS_IN_WORDS.get(result["reason"], "Try again") if retry else "Done")
        if open_service:
            view["decision"] = result["decision"]
    return view


def frame_summary(frame, with_scores):
    summary = {"box": frame.get("box"), "quality": frame.get("quality"), "problem": frame.get("problem")}
    if with_scores:
        summary["score"] = frame.get("score")
    return summary


def kept_frames(frames, result, audit):
    """(reference, audit) frame indices: the frame that carried the decision whose face is most like the
    session's one person (the rule's `reference`; else the sharpest), and `audit` spread evenly over those frames
    (all from the frames whose face matched the session's one person)."""
    carried = result.get("carried") or []
    if not carried:
        return None, []
    reference = result.get("reference")
    if reference is None:
        reference = max(carried, key=lambda i: (frames[i].get("quality") or {}).get("sharpness", 0.0))
    count = min(audit, len(carried))
    picks = sorted({carried[int(round(k * (len(carried) - 1) / max(1, count - 1)))] for k in range(count)})
    return reference, picks


def image_entry(index, image_bytes, summary):
    return {"frame": index, "image_base64": base64.b64encode(image_bytes).decode(), "box": summary.get("box")}


def result_view(session_id, session, kept_images, with_images, now=None):
    """The JSON GET /v1/sessions/{id} answers: status, decision, reason, the frames' summaries; with the
    backend's key (`with_images`), their scores and the reference and audit images too."""
    now = now or time.time()
    status = session["status"]
    if status != SUCCEEDED and session["expires"] <= now:
        status = EXPIRED
    result = session.get("result") or {}
    view = {"id": session_id, "status": status, "frames_needed": session["frames"],
            "frames_received": session["frame_count"], "expires_at": session["expires"],
            "decision": result.get("decision"), "reason": result.get("reason"), "judged": result.get("judged"),
            "operating_point": result.get("operating_point"), "challenge": result.get("challenge"),
            "live_frames": result.get("live_frames") if with_images else None}
    summaries = result.get("frames") or []
    view["frames"] = [s if with_images else {k: v for k, v in s.items() if k != "score"} for s in summaries]
    if status == SUCCEEDED and with_images and kept_images:
        entries = {index: image_entry(index, data, summaries[index]) for index, data in kept_images}
        view["reference_image"] = entries.get(result.get("reference_frame"))
        view["audit_images"] = [entries[i] for i in result.get("audit_frames", []) if i in entries]
    return view
