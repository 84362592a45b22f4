from common import *
ip = IP(src="192.168.2.7", dst="192.168.1.9")/UDP(sport=1, dport=2)/Raw(b"q"*22)   # 50 bytes
n = len(bytes(ip)) + 2; padlen = -n % 4
dummy = esp._encrypt_custom(ip, IN_SA, 5, bytes(range(1, padlen+1)), padlen, 59)
badpad = esp.make_bad_trailer(ip, IN_SA, 6, "pad-bytes")
r = run("dummy", wan_in=[dummy, dummy, dummy, badpad, badpad, badpad])
report(r)
