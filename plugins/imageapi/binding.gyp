{
  "targets": [
    {
      "target_name": "linux_mounts",
      "sources": ["native/linux_mounts.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    }
  ]
}
