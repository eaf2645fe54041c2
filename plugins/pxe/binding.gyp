{
  "targets": [
    {
      "target_name": "tftp_sender",
      "sources": ["native/tftp_sender.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "libraries": ["-lpthread"]
    }
  ]
}
