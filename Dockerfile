# The liveness service. Build: docker build -t liveness .
# Run:   docker run -p 8000:8000 -v "$PWD/models:/models:ro" liveness
# (models/ holding liveness.keras, le.pickle and, if calibrated, liveness.keras.json)
# The pretrained pair finds faces with its own RetinaFace: python -m liveness.pretrained puts it in
# face_detector/retinaface/; add -v "$PWD/face_detector/retinaface:/app/face_detector/retinaface:ro".
# With API keys (see docs/service.md): add -v "$PWD/keys.txt:/keys.txt:ro" and, after the image name,
#   python liveness_api.py --model /models/liveness.keras --le /models/le.pickle --host 0.0.0.0 --api-keys /keys.txt
FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY liveness/ liveness/
COPY face_detector/README.md face_detector/
COPY liveness_api.py livenessnet.py ./
RUN python -m liveness.detector face_detector
EXPOSE 8000
CMD ["python", "liveness_api.py", "--model", "/models/liveness.keras", "--le", "/models/le.pickle", "--host", "0.0.0.0", "--port", "8000"]
