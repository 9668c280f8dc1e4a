# The liveness service, served without TensorFlow (requirements-serve.txt: LiteRT, OpenCV, FastAPI).
# Build: docker build -t liveness .
# Run:   docker run -p 8000:8000 -v "$PWD/models:/models:ro" liveness
# (models/ holding liveness.tflite and liveness.tflite.json, as `python -m liveness.export liveness.keras` or
# train_liveness.py writes them, and le.pickle; a .keras model needs the full install, requirements.txt)
# The pretrained pair finds faces with its own RetinaFace: python -m liveness.pretrained puts it in
# face_detector/retinaface/; add -v "$PWD/face_detector/retinaface:/app/face_detector/retinaface:ro" and serve
# /models/minifasnet.tflite, or the recommended fusion: mount pretrained/ (the .fusion file, minifasnet.keras,
# best_model.onnx, both .tflite exports and every .json beside them, all pinned by the .fusion) at /models and
# serve /models/minifasnet_fused.fusion.
# With API keys (see docs/service.md): add -v "$PWD/keys.txt:/keys.txt:ro" and, after the image name,
#   python liveness_api.py --model /models/liveness.tflite --le /models/le.pickle --host 0.0.0.0 --api-keys /keys.txt
# Several workers or replicas count their limits in one Redis (docs/service.md): run one beside it,
#   docker network create liveness && docker run -d --network liveness --name redis redis:7
# then add --network liveness and, after the image name, the command above with
#   --workers 4 --rate-limit 5/s --state redis://redis:6379/0
FROM python:3.11-slim
WORKDIR /app
COPY requirements-serve.txt .
RUN pip install --no-cache-dir -r requirements-serve.txt
COPY liveness/ liveness/
COPY face_detector/README.md face_detector/
COPY liveness_api.py ./
RUN python -m liveness.detector face_detector
EXPOSE 8000
CMD ["python", "liveness_api.py", "--model", "/models/liveness.tflite", "--le", "/models/le.pickle", "--host", "0.0.0.0", "--port", "8000"]
