#!/usr/bin/python3
"""The course's Inference API script, as students write it: POST each photo's bytes with a Bearer
token using `requests`, print the JSON answer. Pointed at `binscan serve` by the tests.

  hf_api_client.py URL TOKEN_FILE PHOTO...
Prints one JSON line per photo: {"image": PHOTO, "status": HTTP status, "answer": parsed JSON}.
"""

import json
import sys

import requests


def main():
    url, token_file, photos = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(token_file) as f:
        token = f.read().strip()
    headers = {"Authorization": f"Bearer {token}"}
    for photo in photos:
        with open(photo, "rb") as f:
            data = f.read()
        response = requests.post(url, headers=headers, data=data, timeout=120)
        print(json.dumps({"image": photo, "status": response.status_code, "answer": response.json()}))


if __name__ == "__main__":
    main()
