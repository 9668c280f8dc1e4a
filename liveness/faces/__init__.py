"""From a frame to a face crop: reading videos, images and image sets, the face detectors (one backend a
file), the crop rule a model looks through, and ROIs cut again from their source frames."""
