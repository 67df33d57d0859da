#!/usr/bin/python3
"""Reads a Hugging Face cache the way huggingface_hub does, to check that a cache written by
binscan is usable by Python (huggingface_hub itself is not packaged by Debian 12).

Follows huggingface_hub's utils/_cache_manager.py `_scan_cached_repo` (which raises
CorruptedCacheException on a layout it does not accept) and file_download.py
`try_to_load_from_cache` (how transformers finds a cached file), using only the standard library.

usage: hf_cache_scan.py CACHE_DIR [REPO_ID FILENAME REVISION]...
prints JSON: {"repos": [...], "warnings": [...], "lookups": [...]}
"""
import json
import os
import sys
from collections import defaultdict
from pathlib import Path


class CorruptedCacheException(Exception):
    pass


def scan_cached_repo(repo_path: Path) -> dict:
    if not repo_path.is_dir():
        raise CorruptedCacheException(f"Repo path is not a directory: {repo_path}")
    if "--" not in repo_path.name:
        raise CorruptedCacheException(f"Repo path is not a valid HuggingFace cache directory: {repo_path}")
    repo_type, repo_id = repo_path.name.split("--", maxsplit=1)
    repo_type = repo_type[:-1]
    repo_id = repo_id.replace("--", "/")
    if repo_type not in {"dataset", "model", "space"}:
        raise CorruptedCacheException(f"Repo type must be `dataset`, `model` or `space`, found `{repo_type}`")

    blob_stats = {}
    snapshots_path = repo_path / "snapshots"
    refs_path = repo_path / "refs"
    if not snapshots_path.exists() or not snapshots_path.is_dir():
        raise CorruptedCacheException(f"Snapshots dir doesn't exist in cached repo: {snapshots_path}")

    refs_by_hash = defaultdict(set)
    if refs_path.exists():
        if refs_path.is_file():
            raise CorruptedCacheException(f"Refs directory cannot be a file: {refs_path}")
        for ref_path in refs_path.glob("**/*"):
            if ref_path.is_dir():
                continue
            ref_name = str(ref_path.relative_to(refs_path))
            with ref_path.open() as f:
                commit_hash = f.read()  # read as is, no strip: a newline would break it
            refs_by_hash[commit_hash].add(ref_name)

    revisions = []
    for revision_path in snapshots_path.iterdir():
        if revision_path.is_file():
            raise CorruptedCacheException(f"Snapshots folder corrupted. Found a file: {revision_path}")
        files = []
        for file_path in revision_path.glob("**/*"):
            if file_path.is_dir():
                continue
            if file_path.is_symlink():
                first_hop = Path(os.path.abspath(file_path.parent / os.readlink(file_path)))
                blob_path = first_hop if first_hop.parent == repo_path / "blobs" else file_path.resolve()
            else:
                blob_path = file_path
            if not blob_path.exists():
                raise CorruptedCacheException(f"Blob missing (broken symlink): {blob_path}")
            if blob_path not in blob_stats:
                blob_stats[blob_path] = blob_path.stat()
            files.append({
                "file_name": str(file_path.relative_to(revision_path)),
                "blob": blob_path.name,
                "symlink": os.readlink(file_path) if file_path.is_symlink() else None,
                "size": blob_stats[blob_path].st_size,
            })
        blobs = {f["blob"]: f["size"] for f in files}
        revisions.append({
            "commit_hash": revision_path.name,
            "refs": sorted(refs_by_hash.pop(revision_path.name, set())),
            "nb_files": len(files),
            "size_on_disk": sum(blobs.values()),
            "files": sorted(files, key=lambda f: f["file_name"]),
        })
    if refs_by_hash:
        raise CorruptedCacheException(f"Reference(s) refer to missing commit hashes: {dict(refs_by_hash)}")
    return {
        "repo_id": repo_id,
        "repo_type": repo_type,
        "nb_files": len(blob_stats),
        "size_on_disk": sum(s.st_size for s in blob_stats.values()),
        "revisions": sorted(revisions, key=lambda r: r["commit_hash"]),
    }


def try_to_load_from_cache(cache_dir, repo_id, filename, revision="main", repo_type="model"):
    object_id = repo_id.replace("/", "--")
    repo_cache = os.path.join(cache_dir, f"{repo_type}s--{object_id}")
    if not os.path.isdir(repo_cache):
        return None
    refs_dir = os.path.join(repo_cache, "refs")
    snapshots_dir = os.path.join(repo_cache, "snapshots")
    no_exist_dir = os.path.join(repo_cache, ".no_exist")
    if os.path.isdir(refs_dir):
        revision_file = os.path.join(refs_dir, revision)
        if os.path.isfile(revision_file):
            with open(revision_file) as f:
                revision = f.read()
    if os.path.isfile(os.path.join(no_exist_dir, revision, filename)):
        return "_CACHED_NO_EXIST"
    if not os.path.exists(snapshots_dir):
        return None
    if revision not in os.listdir(snapshots_dir):
        return None
    cached_file = os.path.join(snapshots_dir, revision, filename)
    return cached_file if os.path.isfile(cached_file) else None


def main():
    cache_dir = Path(sys.argv[1])
    repos, warnings = [], []
    for repo_path in sorted(cache_dir.iterdir()):
        if repo_path.name in (".locks", "CACHEDIR.TAG"):
            continue
        try:
            repos.append(scan_cached_repo(repo_path))
        except CorruptedCacheException as e:
            warnings.append(str(e))
    lookups = []
    args = sys.argv[2:]
    for i in range(0, len(args) - 2, 3):
        path = try_to_load_from_cache(str(cache_dir), args[i], args[i + 1], args[i + 2])
        content_sha256 = None
        if path and path != "_CACHED_NO_EXIST":
            import hashlib
            with open(path, "rb") as f:
                content_sha256 = hashlib.sha256(f.read()).hexdigest()
        lookups.append({"repo_id": args[i], "filename": args[i + 1], "revision": args[i + 2],
                        "path": path, "sha256": content_sha256})
    json.dump({"repos": repos, "warnings": warnings, "lookups": lookups}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
