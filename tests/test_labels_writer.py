"""Ground-truth labels (LabelSink, rle_encode, merge_coco), read back with pycocotools, the reader
every detection and segmentation codebase uses."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from PIL import Image

from hybridscene.compose.passes import CameraInfo, FramePasses, InstanceInfo
from hybridscene.errors import ConfigError, SinkError
from hybridscene.sinks.labels import LabelSink, merge_coco, rle_encode

pytest.importorskip("pycocotools")
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

W, H = 40, 30
TRACKS = {1: ("car_0", "car", (1, 2)), 2: ("person_0", "person", (3,)), 3: ("car_1", "car", (5,))}


def reference_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def perspective(fovy_deg: float, aspect: float, near: float = 0.1, far: float = 100.0) -> np.ndarray:
    f = 1.0 / math.tan(math.radians(fovy_deg) / 2)
    p = np.zeros((4, 4))
    p[0, 0], p[1, 1] = f / aspect, f
    p[2, 2], p[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
    p[3, 2] = -1.0
    return p


def camera(i: int) -> CameraInfo:
    pose = np.eye(4)
    pose[:3, 3] = (0.1 * i, 1.5, 4.0)  # world-from-camera: the camera slides along x
    c, s = math.cos(0.1 * i), math.sin(0.1 * i)
    pose[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    return CameraInfo(view=np.linalg.inv(pose), projection=perspective(50, W / H), size=(W, H))


def ids_pass(i: int) -> np.ndarray:
    ids = np.zeros((H, W), np.uint32)
    ids[8 + i:18 + i, 10:16] = 1  # car_0: two nodes side by side
    ids[8 + i:18 + i, 16:22] = 2
    ids[12:14, 12:14] = 4  # a node of no instance (say, an uncategorised prop) in front of car_0
    if i != 2:  # person_0 touches the top-left corner; fully hidden in frame 2
        ids[0:6 + i, 0:4] = 3
    ids[25:, 33:] = 5  # car_1 touches the bottom-right corner
    ids[27, 30:33] = 5
    return ids


def instance(track: int, i: int, ids: np.ndarray) -> InstanceInfo:
    name, category, nodes = TRACKS[track]
    visible = int(np.isin(ids, nodes).sum())
    world = np.eye(4)
    world[:3, 3] = (track, 0.0, -5.0 - i)
    box = np.array([[-0.5, 0.0, -0.5], [0.5, 1.0, 0.5]])
    corners = np.array([[x, y, z] for x in box[:, 0] for y in box[:, 1] for z in box[:, 2]]) + world[:3, 3]
    amodal = visible + 40 if track == 1 else max(visible, 24)
    return InstanceInfo(track_id=track, name=name, category=category, node_ids=nodes, world=world,
                        bbox_local=box if track != 3 else None, bbox_world=corners if track != 3 else None,
                        visible_pixels=visible, amodal_pixels=amodal,
                        hidden_by_plate=amodal - visible if track == 2 else 0)


def frame_passes(i: int) -> FramePasses:
    ids = ids_pass(i)
    rng = np.random.default_rng(i)
    frame = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    return FramePasses(time=i / 24, frame=frame, passes={"ids": ids}, names={1: "car_0", 2: "wheel", 3: "person_0",
                       4: "prop", 5: "car_1"}, camera=camera(i), instances=tuple(instance(t, i, ids) for t in TRACKS))


def write_labels(path, frames: int = 3, **kw) -> list[FramePasses]:
    fps = [frame_passes(i) for i in range(frames)]
    with LabelSink(path, size=(W, H), fps=24, **kw) as sink:
        for fp in fps:
            sink.write_passes(fp)
    return fps


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "labels"
    fps = write_labels(path, plate_camera={"fov_y": 50.0, "position": [0.0, 1.5, 4.0]})
    return path, fps


# -- rle_encode --------------------------------------------------------------------------------

def edge_masks():
    yield np.zeros((7, 5), bool)
    yield np.ones((7, 5), bool)
    yield np.ones((1, 1), bool)
    yield np.zeros((1, 1), bool)
    for h, w in [(5, 9), (9, 5), (1, 13), (13, 1)]:
        for y, x in [(0, 0), (h - 1, w - 1), (h // 2, w // 2), (0, w - 1), (h - 1, 0)]:
            m = np.zeros((h, w), bool)
            m[y, x] = True
            yield m
            yield ~m
    big = np.ones((300, 400), bool)  # one run of 120000 > 2**16
    yield big
    big = big.copy()
    big[150, 200] = False
    yield big
    sparse = np.zeros((300, 400), bool)  # long zero runs, then short ones: negative deltas
    sparse[3, 1] = sparse[299, 399] = sparse[100:110, 300] = True
    yield sparse
    stripes = np.zeros((257, 300), bool)
    stripes[:, ::7] = True
    stripes[5:250, 100:290] = True
    yield stripes
    yield np.arange(12 * 11).reshape(12, 11) % 3 == 0  # integer 0/1 input too
    yield (np.arange(6 * 4).reshape(6, 4) % 2).astype(np.uint8)


def test_rle_encode_matches_pycocotools_on_edge_cases():
    for mask in edge_masks():
        assert rle_encode(mask) == reference_rle(mask), mask.shape


def test_rle_encode_matches_pycocotools_on_random_masks():
    rng = np.random.default_rng(7)
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        kind = rng.integers(3)
        if kind == 0:  # salt and pepper of any density
            mask = rng.random((h, w)) < rng.random()
        elif kind == 1:  # blobs: long runs with small and large deltas
            mask = np.zeros((h, w), bool)
            for _ in range(rng.integers(1, 5)):
                y0, x0 = rng.integers(0, h), rng.integers(0, w)
                mask[y0:y0 + rng.integers(1, h + 1), x0:x0 + rng.integers(1, w + 1)] = True
        else:
            mask = rng.random((h, w)) < 0.97
        assert rle_encode(mask) == reference_rle(mask)
        decoded = mask_utils.decode({"size": [h, w], "counts": rle_encode(mask)["counts"].encode()})
        np.testing.assert_array_equal(decoded, mask)


def test_rle_encode_rejects_a_stack():
    with pytest.raises(ConfigError, match=r"\(H, W\)"):
        rle_encode(np.zeros((2, 3, 4), bool))


# -- coco.json ---------------------------------------------------------------------------------

def test_coco_loads_and_every_mask_is_the_ids_pass(labels):
    path, fps = labels
    coco = COCO(str(path / "coco.json"))
    cats = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    assert cats == {1: "car", 2: "person"}
    assert [c["supercategory"] for c in coco.dataset["categories"]] == ["object", "object"]
    assert coco.dataset["licenses"] == [] and coco.dataset["info"]["version"]
    images = coco.dataset["images"]
    assert [im["id"] for im in images] == [1, 2, 3]
    assert [im["file_name"] for im in images] == ["images/00000.png", "images/00001.png", "images/00002.png"]
    assert [im["frame_index"] for im in images] == [0, 1, 2] and images[1]["time"] == pytest.approx(1 / 24)
    assert all((im["width"], im["height"]) == (W, H) for im in images)
    anns = coco.dataset["annotations"]
    assert [a["id"] for a in anns] == list(range(1, len(anns) + 1))
    assert len(anns) == 3 + 3 + 2  # person_0 is hidden in frame 2
    for i, fp in enumerate(fps):
        np.testing.assert_array_equal(np.asarray(Image.open(path / images[i]["file_name"])), fp.frame)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=[i + 1])):
            name, category, nodes = TRACKS[ann["track_id"]]
            assert cats[ann["category_id"]] == category
            mask = np.isin(fp.passes["ids"], nodes)
            np.testing.assert_array_equal(coco.annToMask(ann), mask.astype(np.uint8))
            rle = copy.deepcopy(ann["segmentation"])
            rle["counts"] = rle["counts"].encode()
            assert ann["bbox"] == mask_utils.toBbox(rle).tolist()
            assert ann["area"] == float(mask.sum()) == float(mask_utils.area(rle))
            assert ann["segmentation"] == reference_rle(mask)
            assert ann["iscrowd"] == 0
            inst = next(x for x in fp.instances if x.track_id == ann["track_id"])
            assert ann["visibility"] == pytest.approx(mask.sum() / inst.amodal_pixels)
            assert ann["amodal_area"] == inst.amodal_pixels and ann["hidden_by_plate"] == inst.hidden_by_plate
    # the border-touching instances: boxes start at 0 and end at the frame's edge
    first = {a["track_id"]: a["bbox"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[1]))}
    assert first[2] == [0.0, 0.0, 4.0, 6.0]
    assert first[3] == [30.0, 25.0, 10.0, 5.0]
    assert first[1] == [10.0, 8.0, 12.0, 10.0]  # two node ids, one mask; the prop in front is cut out


def test_masks_of_random_id_images_match_pycocotools(tmp_path):
    """Runs that cross columns, instances touching every edge, noise: segmentation, area and bbox
    of each annotation are what pycocotools computes from the mask."""
    rng = np.random.default_rng(3)
    fps = []
    for i in range(6):
        ids = np.zeros((H, W), np.uint32)
        if i % 2:
            ids[:] = rng.integers(0, 7, (H, W))  # noise of every node id
        else:
            for node in range(1, 7):  # blobs, some full height (runs wrapping from column to column)
                y0, x0 = rng.integers(0, H), rng.integers(0, W)
                ids[y0 if node % 3 else 0:y0 + rng.integers(1, H + 1) if node % 3 else H, x0:x0 + rng.integers(1, 9)] = node
            ids[H - 4:, 2 * i] = ids[:3, 2 * i + 1] = 5  # one run from the bottom of a column to the top of the next
        base = frame_passes(0)
        fps.append(FramePasses(time=i / 24, frame=base.frame, passes={"ids": ids}, names={}, camera=base.camera,
                               instances=tuple(instance(t, 0, ids) for t in TRACKS)))
    with LabelSink(tmp_path / "labels", size=(W, H), fps=24, images=False) as sink:
        for fp in fps:
            sink.write_passes(fp)
    coco = json.loads((tmp_path / "labels" / "coco.json").read_text())
    seen = 0
    for i, fp in enumerate(fps):
        anns = {a["track_id"]: a for a in coco["annotations"] if a["image_id"] == i + 1}
        for track, (_, _, nodes) in TRACKS.items():
            mask = np.isin(fp.passes["ids"], nodes)
            if not mask.any():
                assert track not in anns
                continue
            ann = anns[track]
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            assert ann["segmentation"]["counts"] == rle["counts"].decode()
            assert ann["bbox"] == mask_utils.toBbox(rle).tolist()
            assert ann["area"] == float(mask_utils.area(rle))
            seen += 1
    assert seen >= 15


@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_cocoeval_of_the_ground_truth_against_itself_is_perfect(labels, iou_type, capsys):
    path, _ = labels
    gt = COCO(str(path / "coco.json"))
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0,
                iou_type if iou_type == "bbox" else "segmentation": copy.deepcopy(
                    a["bbox"] if iou_type == "bbox" else a["segmentation"])} for a in gt.dataset["annotations"]]
    ev = COCOeval(gt, gt.loadRes(results), iou_type)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # AP @ IoU 0.50:0.95
    assert ev.stats[1] == pytest.approx(1.0)  # AP @ IoU 0.50


# -- objects.json and cameras.json ---------------------------------------------------------------

def test_hidden_instance_is_in_objects_but_has_no_annotation(labels):
    path, fps = labels
    coco = json.loads((path / "coco.json").read_text())
    assert [a["track_id"] for a in coco["annotations"] if a["image_id"] == 3] == [1, 3]
    objects = json.loads((path / "objects.json").read_text())
    assert objects["objects"] == {"1": {"name": "car_0", "category": "car"},
                                  "2": {"name": "person_0", "category": "person"},
                                  "3": {"name": "car_1", "category": "car"}}
    assert [f["frame_index"] for f in objects["frames"]] == [0, 1, 2]
    hidden = next(o for o in objects["frames"][2]["objects"] if o["track_id"] == 2)
    assert hidden["visible_pixels"] == 0 and hidden["visibility"] == 0.0
    assert hidden["amodal_pixels"] == 24 and hidden["hidden_by_plate"] == 24
    for fp, frame in zip(fps, objects["frames"]):
        assert frame["time"] == pytest.approx(fp.time)
        for inst, obj in zip(fp.instances, frame["objects"]):
            assert obj["track_id"] == inst.track_id
            np.testing.assert_allclose(obj["world_from_object"], inst.world)
            assert obj["visible_pixels"] == inst.visible_pixels and obj["amodal_pixels"] == inst.amodal_pixels
            if inst.bbox_local is None:
                assert obj["bbox_local"] is None and obj["bbox_world"] is None
            else:
                np.testing.assert_allclose(obj["bbox_local"], inst.bbox_local)
                np.testing.assert_allclose(obj["bbox_world"], inst.bbox_world)
                assert np.asarray(obj["bbox_world"]).shape == (8, 3)


def test_cameras_read_back_in_both_conventions(labels):
    path, fps = labels
    cams = json.loads((path / "cameras.json").read_text())
    assert set(cams["convention"]) >= {"opengl", "opencv"}
    assert cams["plate_camera"] == {"fov_y": 50.0, "position": [0.0, 1.5, 4.0]}
    for fp, cam in zip(fps, cams["frames"]):
        assert (cam["width"], cam["height"]) == (W, H)
        k = np.asarray(cam["K"])
        np.testing.assert_allclose(k, fp.camera.K)
        assert k[0, 2] == pytest.approx((W - 1) / 2) and k[1, 2] == pytest.approx((H - 1) / 2)  # OpenCV pixel centres
        gl, cv = np.asarray(cam["world_from_camera_opengl"]), np.asarray(cam["world_from_camera_opencv"])
        np.testing.assert_allclose(gl, np.linalg.inv(fp.camera.view))
        np.testing.assert_allclose(cv, gl @ np.diag([1.0, -1.0, -1.0, 1.0]))
        np.testing.assert_allclose(cam["projection_opengl"], fp.camera.projection)
        # K projects a point in front of the OpenCV camera where the OpenGL projection puts it
        world = np.array([0.3, 1.2, -3.0, 1.0])
        x_cv = np.linalg.inv(cv) @ world
        uv = (k @ x_cv[:3])[:2] / x_cv[2]
        clip = fp.camera.projection @ fp.camera.view @ world
        ndc = clip[:2] / clip[3]
        # (OpenCV pixel coordinates: the top-left pixel's centre is (0, 0), its corner (-0.5, -0.5))
        np.testing.assert_allclose(uv, [(ndc[0] + 1) / 2 * W - 0.5, (1 - ndc[1]) / 2 * H - 0.5], atol=1e-9)


def test_without_images_file_names_still_name_the_frames(tmp_path):
    write_labels(tmp_path / "labels", frames=2, images=False)
    assert sorted(p.name for p in (tmp_path / "labels").iterdir()) == ["cameras.json", "coco.json", "manifest.json", "objects.json"]
    coco = json.loads((tmp_path / "labels" / "coco.json").read_text())
    assert [im["file_name"] for im in coco["images"]] == ["images/00000.png", "images/00001.png"]
    assert json.loads((tmp_path / "labels" / "cameras.json").read_text())["plate_camera"] is None


# -- merge_coco --------------------------------------------------------------------------------

def test_merge_coco_unifies_categories_and_renumbers(tmp_path):
    (tmp_path / "000000").mkdir()
    write_labels(tmp_path / "000000" / "labels", frames=2)  # categories car, person
    fp = frame_passes(2)  # a part with one instance of another category ("bus" is id 1 there)
    only = tuple(inst for inst in fp.instances if inst.track_id == 3)
    moved = InstanceInfo(**{**{f: getattr(only[0], f) for f in InstanceInfo.__dataclass_fields__},
                            "category": "bus"})
    (tmp_path / "000001").mkdir()
    with LabelSink(tmp_path / "000001" / "labels", size=(W, H), fps=24) as sink:
        sink.write_passes(FramePasses(time=0.0, frame=fp.frame, passes=fp.passes, names=fp.names,
                                      camera=fp.camera, instances=(moved,)))
    out = tmp_path / "dataset.json"
    merge_coco([(tmp_path / "000000" / "labels" / "coco.json", "000000/labels"),
                (str(tmp_path / "000001" / "labels" / "coco.json"), "000001/labels")], out)
    coco = COCO(str(out))
    assert {c["name"]: c["id"] for c in coco.dataset["categories"]} == {"bus": 1, "car": 2, "person": 3}
    images = coco.dataset["images"]
    assert [im["id"] for im in images] == [1, 2, 3]
    assert [im["item"] for im in images] == [0, 0, 1]
    assert [im["file_name"] for im in images] == ["000000/labels/images/00000.png",
                                                  "000000/labels/images/00001.png",
                                                  "000001/labels/images/00000.png"]
    for im in images:
        assert (tmp_path / im["file_name"]).is_file()
    anns = coco.dataset["annotations"]
    assert [a["id"] for a in anns] == list(range(1, 7 + 1))
    assert [a["item"] for a in anns] == [0] * 6 + [1]
    last = anns[-1]
    assert (last["image_id"], last["category_id"], last["track_id"]) == (3, 1, 3)
    names = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    for a in anns[:6]:
        assert names[a["category_id"]] == TRACKS[a["track_id"]][1]
        assert coco.imgs[a["image_id"]]["item"] == 0
    np.testing.assert_array_equal(coco.annToMask(last), np.isin(fp.passes["ids"], (5,)))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_merge_coco_names_a_missing_part(tmp_path):
    with pytest.raises(SinkError, match="missing.json"):
        merge_coco([(tmp_path / "missing.json", "x")], tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


# -- atomic folder -----------------------------------------------------------------------------

def test_abort_leaves_nothing_and_a_rerun_replaces_the_folder(tmp_path):
    out = tmp_path / "labels"
    sink = LabelSink(out, size=(W, H), fps=24)
    sink.write_passes(frame_passes(0))
    sink.abort()
    assert list(tmp_path.iterdir()) == []
    write_labels(out, frames=3)
    write_labels(out, frames=1)  # a rerun replaces the whole folder
    assert sorted(p.name for p in (out / "images").iterdir()) == ["00000.png"]
    assert len(json.loads((out / "coco.json").read_text())["images"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels"]
    with pytest.raises(RuntimeError), LabelSink(out, size=(W, H), fps=24) as sink:  # an error inside: aborted
        sink.write_passes(frame_passes(0))
        raise RuntimeError("boom")
    assert len(json.loads((out / "coco.json").read_text())["images"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels"]


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    out = tmp_path / "labels"
    (out / "images").mkdir(parents=True)
    (out / "images" / "notes.txt").write_text("mine")
    with pytest.raises(SinkError, match="notes.txt"):
        LabelSink(out, size=(W, H), fps=24)
    (out / "images" / "notes.txt").unlink()
    (out / "README").write_text("mine")
    with pytest.raises(SinkError, match="README"):
        LabelSink(out, size=(W, H), fps=24)


def test_bad_frames_are_refused(tmp_path):
    fp = frame_passes(0)
    with pytest.raises(SinkError, match="ids"), LabelSink(tmp_path / "a", size=(W, H), fps=24) as sink:
        sink.write_passes(FramePasses(time=0.0, frame=fp.frame, passes={}, names={}, camera=fp.camera,
                                      instances=fp.instances))
    with pytest.raises(SinkError, match="instances"), LabelSink(tmp_path / "b", size=(W, H), fps=24) as sink:
        sink.write_passes(FramePasses(time=0.0, frame=fp.frame, passes=fp.passes, names={}, camera=fp.camera))
    world = fp.instances[0].world.copy()
    world[0, 3] = np.nan
    broken = InstanceInfo(**{**{f: getattr(fp.instances[0], f) for f in InstanceInfo.__dataclass_fields__},
                             "world": world})
    with pytest.raises(SinkError, match="finite"), LabelSink(tmp_path / "c", size=(W, H), fps=24) as sink:
        sink.write_passes(FramePasses(time=0.0, frame=fp.frame, passes=fp.passes, names={}, camera=fp.camera,
                                      instances=(broken,)))
    with pytest.raises(ConfigError, match="plate_camera"):
        LabelSink(tmp_path / "d", size=(W, H), fps=24, plate_camera={"fov": float("inf")})
    assert list(tmp_path.iterdir()) == []
