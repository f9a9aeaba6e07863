"""Labels of real renders, read back with pycocotools: masks equal the ids pass, COCOeval of the
labels against themselves, an object passing behind a ridge of the plate, categories and
instances, cameras."""

import json

import numpy as np
import pytest
from PIL import Image

import hybridscene as hs

pytestmark = pytest.mark.gl

coco_api = pytest.importorskip("pycocotools.coco")
mask_utils = pytest.importorskip("pycocotools.mask")
SIZE = (192, 108)


def labelled_scene():
    plate = hs.procedural_plate(size=SIZE, seed=1)
    scene = hs.Scene(plate)
    plane = scene.add(hs.Node("aircraft", category="aircraft", position=(-2.0, 3.0, -14)))
    scene.add(hs.Mesh.cube(1.0, color="#dddddd"), parent=plane, name="fuselage", scale=(3.0, 0.6, 0.6))
    scene.add(hs.Mesh.cube(1.0, color="#aa3333"), parent=plane, name="wing", scale=(0.8, 0.1, 3.0))
    scene.add(hs.Mesh.sphere(0.6, color="#3a86ff"), position=(1.5, 1.0, -9), name="ball_1")
    scene.add(hs.Mesh.sphere(0.5, color="#ffbe0b"), position=(2.8, 1.2, -10), name="ball_2")
    scene.on_frame(lambda t: setattr(plane, "position", (-2.0 + 4.0 * t, 3.0, -14)))
    return scene


def test_coco_masks_equal_the_ids_pass_and_cocoeval_is_perfect(tmp_path, ctx):
    labels, layers = tmp_path / "labels", tmp_path / "layers"
    hs.render(labelled_scene(), tmp_path / "f.mp4", frames=3, fps=5, size=SIZE, ctx=ctx, layers=layers,
              passes="ids", labels=labels)
    coco = coco_api.COCO(str(labels / "coco.json"))
    assert sorted(c["name"] for c in coco.loadCats(coco.getCatIds())) == ["aircraft", "ball"]
    names = {int(k): v for k, v in json.loads((layers / "ids.json").read_text()).items()}
    objects = json.loads((labels / "objects.json").read_text())
    tracks = {int(k): v for k, v in objects["objects"].items()}
    assert sorted(v["name"] for v in tracks.values()) == ["aircraft", "ball_1", "ball_2"]
    ball = next(o for o in objects["frames"][0]["objects"] if tracks[o["track_id"]]["name"] == "ball_1")
    box = np.array(ball["bbox_world"])  # a sphere of radius 0.6 at (1.5, 1.0, -9)
    assert np.allclose(box.min(0), (0.9, 0.4, -9.6), atol=0.02) and np.allclose(box.max(0), (2.1, 1.6, -8.4), atol=0.02)
    assert len(coco.getImgIds()) == 3
    for img in coco.loadImgs(coco.getImgIds()):
        i = img["frame_index"]
        ids = np.asarray(Image.open(layers / f"{i:05d}.ids.png")).astype(int)
        frame = np.asarray(Image.open(labels / img["file_name"]))
        assert frame.shape == (SIZE[1], SIZE[0], 3)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"]))
        assert len(anns) == 3
        for ann in anns:
            name = tracks[ann["track_id"]]["name"]
            member_ids = [k for k, v in names.items() if v in (("fuselage", "wing") if name == "aircraft" else (name,))]
            expected = np.isin(ids, member_ids)
            mask = coco.annToMask(ann).astype(bool)
            assert (mask == expected).all(), name
            assert ann["area"] == expected.sum() == mask_utils.area(ann["segmentation"])
            assert np.allclose(ann["bbox"], mask_utils.toBbox(ann["segmentation"]))
            assert ann["iscrowd"] == 0 and 0 < ann["visibility"] <= 1
    # The labels evaluated against themselves: perfect.
    from pycocotools.cocoeval import COCOeval

    results = [dict(a, score=1.0) for a in coco.loadAnns(coco.getAnnIds())]
    for kind in ("segm", "bbox"):
        ev = COCOeval(coco, coco.loadRes([dict(r) for r in results]), kind)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        assert ev.stats[0] == pytest.approx(1.0)
    # Cameras: K and both pose conventions.
    cams = json.loads((labels / "cameras.json").read_text())
    f0 = cams["frames"][0]
    gl_pose, cv_pose = np.array(f0["world_from_camera_opengl"]), np.array(f0["world_from_camera_opencv"])
    assert np.allclose(cv_pose, gl_pose @ np.diag([1, -1, -1, 1]))
    assert np.allclose(gl_pose[:3, 3], (0, 4.0, 0))  # the plate's camera, 4 m up
    k = np.array(f0["K"])
    assert k[0, 2] == pytest.approx((SIZE[0] - 1) / 2) and k[1, 1] == pytest.approx(SIZE[1] / 2 / np.tan(np.radians(25)))
    assert cams["plate_camera"]["fov_y_degrees"] == 50.0
    assert all(f["plate_camera"] == cams["plate_camera"] for f in cams["frames"])  # per frame: plates can swap


def test_an_object_passing_behind_a_ridge(tmp_path, ctx):
    """A balloon 4 km away sinks from the sky behind a ridge about 2.3 km away (the procedural
    plate's right-hand ridge): its visibility falls, hidden_by_plate rises, and when it is wholly
    behind the ridge it has no annotation but keeps its record in objects.json."""
    plate = hs.procedural_plate(size=SIZE, seed=1)
    scene = hs.Scene(plate)
    cam = scene.camera
    info = hs.compose.motion.camera_info(cam, SIZE)
    k = info.K
    z = 4000.0
    x = (144 - k[0, 2]) / k[0, 0] * z  # OpenCV pixel coordinates: pixel centres at integers
    rows = np.linspace(12, 70, 8)  # skyline of that column: row 35
    ball = scene.add(hs.Mesh.sphere(250.0, color="#ff0000"), name="balloon", category="balloon")
    scene.on_frame(lambda t: setattr(ball, "position", (x, 4.0 - (rows[min(int(round(t)), 7)] - k[1, 2]) / k[1, 1] * z, -z)))
    hs.render(scene, tmp_path / "f.gif", frames=8, fps=1, size=SIZE, ctx=ctx, labels=tmp_path / "L")
    objects = json.loads((tmp_path / "L" / "objects.json").read_text())
    per_frame = [f["objects"][0] for f in objects["frames"]]
    vis = [o["visibility"] for o in per_frame]
    hidden = [o["hidden_by_plate"] for o in per_frame]
    amodal = [o["amodal_pixels"] for o in per_frame]
    assert vis[0] == pytest.approx(1.0) and hidden[0] == 0  # in the sky
    assert all(a > 100 for a in amodal)  # the object is always there, in front of nothing
    assert any(0 < v < 1 for v in vis)  # partly behind the ridge
    assert hidden[-1] == amodal[-1] and vis[-1] == 0  # wholly behind it
    assert all(b <= a for a, b in zip(vis, vis[1:]))  # sinking: ever less visible
    share = [h / a for h, a in zip(hidden, amodal)]
    assert all(b >= a for a, b in zip(share, share[1:]))  # ever more of it hidden by the plate
    assert any(0 < h < a for h, a in zip(hidden, amodal)) and hidden[-1] > hidden[0]
    assert all(o["visible_pixels"] + o["hidden_by_plate"] == o["amodal_pixels"] for o in per_frame)
    coco = coco_api.COCO(str(tmp_path / "L" / "coco.json"))
    annotated = {coco.imgs[a["image_id"]]["frame_index"] for a in coco.anns.values()}
    hidden_frames = {i for i, v in enumerate(vis) if v == 0}
    assert hidden_frames and annotated == set(range(8)) - hidden_frames
    for a in coco.anns.values():
        i = coco.imgs[a["image_id"]]["frame_index"]
        assert a["hidden_by_plate"] == hidden[i] and a["visibility"] == pytest.approx(vis[i])


def test_instances_group_parts_and_default_categories():
    from hybridscene.compose.instances import default_category, instances_of

    scene = labelled_scene()
    loose = scene.add(hs.Node("rig"))
    scene.add(hs.Mesh.cube(0.5), parent=loose, name="lamp.003")
    got = {(i.root.name, i.category, tuple(sorted(n.name for n, _ in i.members))) for i in instances_of(scene)}
    assert got == {("aircraft", "aircraft", ("fuselage", "wing")), ("ball_1", "ball", ("ball_1",)),
                   ("ball_2", "ball", ("ball_2",)), ("lamp.003", "lamp", ("lamp.003",))}
    assert default_category(None) == "object" and default_category("tree-12") == "tree"
    with pytest.raises(hs.SceneError, match="category"):
        hs.Node("x", category="  ")
