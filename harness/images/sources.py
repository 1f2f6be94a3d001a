"""Image sources. Each yields ``ImageRef``s: a stable id plus a way to open the image.

- ``FolderSource``: every image file under a folder, recursively (sorted, ids = relative paths).
- ``LlavaJsonSource``: a LLaVA-665k style JSON list (``image`` + ``conversations``) and an image root;
  the human questions are kept (a method may ask them), and each image's source dataset is the first folder
  of its path (``coco``, ``gqa``, ``ocr_vqa``, ``textvqa``, ``vg`` in LLaVA-665k), which the
  per-source sampler reads (``group_of``).
- ``CocoSource``: a COCO annotation file read with pycocotools, and its image folder.
- ``SyntheticSource``: shape scenes drawn with PIL from a seed (the built-in default).

Unreadable images are not fatal: sampling skips them and counts them (see sampling.py).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from harness.errors import HarnessError
from harness.images.synthetic import make_scene

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class ImageRef:
    """A reference to one unlabeled image. ``questions``: annotation questions, where the source has them."""

    id: str
    path: str | None = None  # absolute path on disk; None for synthetic images
    questions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "questions": list(self.questions)}


class ImageSource(ABC):
    """A finite, ordered pool of images."""

    kind: str

    @abstractmethod
    def refs(self) -> Sequence[ImageRef]:
        """Every image of the pool, in a stable order."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What to record in a run manifest to find this source again."""

    def group_of(self, ref: ImageRef) -> str | None:
        """The source dataset ``ref`` comes from (LLaVA-665k: ``coco``, ``gqa``…); None: the pool has no such
        structure."""
        return None

    def annotations(self, ref: ImageRef) -> list[tuple[str | None, str]]:
        """The ground truth the source holds for ``ref``: (question, answer) pairs, where a question of None
        means the answer describes the whole image (a caption). Empty: the source has none."""
        return []

    def open(self, ref: ImageRef) -> Image.Image:
        """Open an image as RGB. Raises OSError (or a PIL error) on a bad file."""
        if ref.path is None:
            raise HarnessError(f"image {ref.id!r} has no path")
        with Image.open(ref.path) as im:
            return im.convert("RGB")


class FolderSource(ImageSource):
    kind = "folder"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise HarnessError(f"{self.root}: image folder not found")
        files = sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise HarnessError(f"{self.root}: no image files (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        self._refs = [ImageRef(str(p.relative_to(self.root)), str(p.resolve())) for p in files]

    def refs(self) -> Sequence[ImageRef]:
        return self._refs

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "root": str(self.root.resolve()), "count": len(self._refs)}


class LlavaJsonSource(ImageSource):
    """``llava_v1_5_mix665k.json``-style annotations: a list of {"image", "conversations": [...]}."""

    kind = "llava_json"

    def __init__(self, json_path: str | Path, image_root: str | Path):
        self.json_path = Path(json_path)
        self.image_root = Path(image_root)
        if not self.image_root.is_dir():
            raise HarnessError(f"{self.image_root}: image root not found")
        from harness.atomic import read_json

        data = read_json(self.json_path)
        if not isinstance(data, list):
            raise HarnessError(f"{self.json_path}: expected a JSON list of LLaVA entries")
        questions: dict[str, list[str]] = {}
        for i, entry in enumerate(data):
            if not isinstance(entry, dict):
                raise HarnessError(f"{self.json_path}: entry {i} is not an object")
            image = entry.get("image")
            if not image:
                continue  # text-only entries carry no image
            qs = questions.setdefault(image, [])
            for turn in entry.get("conversations", []):
                if turn.get("from") == "human":
                    qs.append(strip_image_token(turn.get("value", "")))
        if not questions:
            raise HarnessError(f"{self.json_path}: no entries with an image")
        self._answers: dict[str, list[tuple[str | None, str]]] | None = None
        self._refs = [
            ImageRef(image, str((self.image_root / image).resolve()), tuple(qs))
            for image, qs in sorted(questions.items())
        ]

    def refs(self) -> Sequence[ImageRef]:
        return self._refs

    def annotations(self, ref: ImageRef) -> list[tuple[str | None, str]]:
        """Each human turn of the image's entries with the gpt turn that answers it (LLaVA's own answers).
        The file is read again on the first call (answers are not kept for the sampler's sake)."""
        if self._answers is None:
            from harness.atomic import read_json

            answers: dict[str, list[tuple[str | None, str]]] = {}
            for entry in read_json(self.json_path):
                if not isinstance(entry, dict) or not entry.get("image"):
                    continue
                turns = entry.get("conversations", [])
                for q, a in zip(turns, turns[1:]):
                    if q.get("from") == "human" and a.get("from") == "gpt" and str(a.get("value", "")).strip():
                        question = strip_image_token(str(q.get("value", "")))
                        answers.setdefault(entry["image"], []).append((question, str(a["value"]).strip()))
            self._answers = answers
        return list(self._answers.get(ref.id, []))

    def group_of(self, ref: ImageRef) -> str | None:
        """The first folder of the image's path: LLaVA-665k's source dataset (``ocr_vqa/images/x.jpg`` →
        ``ocr_vqa``)."""
        head, sep, _ = ref.id.replace("\\", "/").partition("/")
        return head if sep else ""

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "json": str(self.json_path.resolve()),
            "image_root": str(self.image_root.resolve()),
            "count": len(self._refs),
        }


class CocoSource(ImageSource):
    """A COCO annotation file (e.g. ``instances_train2017.json``) through pycocotools."""

    kind = "coco"

    def __init__(self, annotation_file: str | Path, image_root: str | Path):
        self.annotation_file = Path(annotation_file)
        self.image_root = Path(image_root)
        if not self.annotation_file.is_file():
            raise HarnessError(f"{self.annotation_file}: COCO annotation file not found")
        if not self.image_root.is_dir():
            raise HarnessError(f"{self.image_root}: COCO image folder not found")
        import contextlib
        import io

        from pycocotools.coco import COCO

        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints timing lines
                coco = COCO(str(self.annotation_file))
        except UnicodeDecodeError as exc:
            raise HarnessError(
                f"{self.annotation_file}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the file as UTF-8"
            ) from None
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise HarnessError(f"{self.annotation_file}: not a COCO annotation file ({exc!r})") from None
        imgs = coco.loadImgs(sorted(coco.getImgIds()))
        if not imgs:
            raise HarnessError(f"{self.annotation_file}: no images listed")
        self._refs = [ImageRef(im["file_name"], str((self.image_root / im["file_name"]).resolve())) for im in imgs]
        # a captions file (captions_train2014.json …): each image's human captions, in annotation order
        self._captions: dict[str, list[str]] = {}
        names = {im["id"]: im["file_name"] for im in imgs}
        for ann in coco.dataset.get("annotations", []):
            if isinstance(ann, dict) and isinstance(ann.get("caption"), str) and ann.get("image_id") in names:
                self._captions.setdefault(names[ann["image_id"]], []).append(ann["caption"].strip())

    def annotations(self, ref: ImageRef) -> list[tuple[str | None, str]]:
        """The image's COCO captions (a captions annotation file; an instances file has none)."""
        return [(None, c) for c in self._captions.get(ref.id, [])]

    def refs(self) -> Sequence[ImageRef]:
        return self._refs

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "annotations": str(self.annotation_file.resolve()),
            "image_root": str(self.image_root.resolve()),
            "count": len(self._refs),
        }


@dataclass
class SyntheticSource(ImageSource):
    """``size`` shape scenes of ``namespace`` (ids ``synthetic/<namespace>/<index>``)."""

    namespace: str = "train"
    size: int = 100_000
    kind: str = field(default="synthetic", init=False)

    def refs(self) -> Sequence[ImageRef]:
        return _SyntheticRefs(self.namespace, self.size)

    def open(self, ref: ImageRef) -> Image.Image:
        namespace, index = parse_synthetic_id(ref.id)
        return make_scene(namespace, index).render()

    def annotations(self, ref: ImageRef) -> list[tuple[str | None, str]]:
        """The scene's exact caption first, then instruction data with exact answers in the tiny model's
        question formats: existence of each shape kind, the count, the colour of each kind present."""
        from harness.images.synthetic import NUMBER_WORDS, SHAPES
        from harness.policy.warmup_tasks import PHRASE_SUFFIX

        scene = make_scene(*parse_synthetic_id(ref.id))
        present = {s.kind for s in scene.shapes}
        out: list[tuple[str | None, str]] = [(None, scene.caption())]
        out += [(f"Is there a {k} in this image?", "Yes" if k in present else "No") for k in SHAPES]
        out.append((f"How many shapes are in the image?{PHRASE_SUFFIX}", NUMBER_WORDS[scene.count].capitalize()))
        kinds = [s.kind for s in scene.shapes]
        out += [
            (f"What color is the {s.kind}?{PHRASE_SUFFIX}", s.color.capitalize())
            for s in scene.shapes
            if kinds.count(s.kind) == 1
        ]
        return out

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "size": self.size}


class _SyntheticRefs(Sequence):
    """A lazy sequence, so a 100k pool costs nothing until sampled."""

    def __init__(self, namespace: str, size: int):
        self.namespace, self.size = namespace, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.size))]
        if not -self.size <= i < self.size:
            raise IndexError(i)
        return ImageRef(f"synthetic/{self.namespace}/{i % self.size}")


def strip_image_token(text: str) -> str:
    """A LLaVA human turn without its ``<image>`` token."""
    return text.replace("<image>\n", "").replace("\n<image>", "").replace("<image>", "").strip()


def parse_synthetic_id(image_id: str) -> tuple[str, int]:
    parts = image_id.split("/")
    if len(parts) != 3 or parts[0] != "synthetic" or not parts[2].isdigit():
        raise HarnessError(f"{image_id!r} is not a synthetic image id (synthetic/<namespace>/<index>)")
    return parts[1], int(parts[2])


def open_source(spec: str | None, *, image_root: str | None = None) -> ImageSource:
    """Build a source from a CLI value.

    ``None`` or ``synthetic`` or ``synthetic:<namespace>``: synthetic scenes. A folder: a FolderSource.
    A ``.json`` file: LLaVA-665k style, or COCO if it has ``images`` and ``annotations`` keys
    (both need ``image_root``).
    """
    if spec is None or spec == "synthetic" or spec.startswith("synthetic:"):
        ns = spec.split(":", 1)[1] if spec and ":" in spec else "train"
        return SyntheticSource(namespace=ns)
    path = Path(spec)
    if path.is_dir():
        return FolderSource(path)
    if not path.exists():
        raise HarnessError(f"{path}: image source not found (a folder, a LLaVA/COCO .json, or 'synthetic')")
    if path.suffix.lower() != ".json":
        raise HarnessError(f"{path}: not a folder or a .json annotation file")
    if image_root is None:
        raise HarnessError(
            f"{path}: a JSON image source needs --image-root (the folder its image paths are relative to)"
        )
    with path.open("rb") as fh:  # the whole file's encoding is checked by the reader (errors name the line)
        head = fh.read(4096).decode("utf-8", errors="replace")
    try:
        if head.lstrip("\ufeff \t\r\n").startswith("{"):
            return CocoSource(path, image_root)
        return LlavaJsonSource(path, image_root)
    except HarnessError as exc:
        raise HarnessError(f"--images {exc}") from None


def source_from_description(desc: dict[str, Any]) -> ImageSource:
    """Rebuild a source from its ``describe()`` record (used by training worker processes)."""
    kind = desc.get("kind")
    if kind == "synthetic":
        return SyntheticSource(namespace=desc["namespace"], size=desc["size"])
    if kind == "folder":
        return FolderSource(desc["root"])
    if kind == "llava_json":
        return LlavaJsonSource(desc["json"], desc["image_root"])
    if kind == "coco":
        return CocoSource(desc["annotations"], desc["image_root"])
    raise HarnessError(f"unknown image source kind {kind!r} in a run manifest")
